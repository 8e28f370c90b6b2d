/** The URL of one of Palate's .wasm builds, as a bundler's asset import gives it (esbuild's file
 *  loader, Vite's `?url`): pass it to createRanker({ wasmUrl: { cpu, webgpu } }). */
declare const url: string;
export default url;
