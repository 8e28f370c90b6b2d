// Signed horizontal bars (value ± sd) as plain DOM, shared by the demo and the widget.
// Every bar shares one scale, centred on zero; labels are text, values are in the title.

/**
 * @param {{ label: string, value: number, sd?: number }[]} rows
 * @param {Document} [doc]
 * @returns {HTMLElement}
 */
export function bars(rows, doc = document) {
  const grid = doc.createElement('div');
  grid.className = 'bars';
  const scale = Math.max(1e-9, ...rows.map((r) => Math.abs(r.value) + (r.sd ?? 0)));
  const pct = (x) => `${(50 + (50 * x) / scale).toFixed(2)}%`;
  for (const r of rows) {
    const name = doc.createElement('span');
    name.textContent = r.label;
    const bar = doc.createElement('span');
    bar.className = 'bar';
    bar.title = `${r.label}: ${r.value.toFixed(3)}${r.sd !== undefined ? ` ± ${r.sd.toFixed(3)}` : ''}`;
    const fill = doc.createElement('i');
    fill.className = r.value >= 0 ? 'pos' : 'neg';
    fill.style.left = r.value >= 0 ? '50%' : pct(r.value);
    fill.style.width = `${((50 * Math.abs(r.value)) / scale).toFixed(2)}%`;
    bar.append(fill);
    if (r.sd !== undefined) {
      const whisker = doc.createElement('s');
      whisker.style.left = pct(r.value - r.sd);
      whisker.style.width = `${((100 * r.sd) / scale).toFixed(2)}%`;
      bar.append(whisker);
    }
    grid.append(name, bar);
  }
  return grid;
}
