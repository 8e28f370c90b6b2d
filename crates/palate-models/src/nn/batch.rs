//! Right-padded batches of token ids, as the encoder and the decoder take them.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// `[rows, seq]` token ids (padding `pad`) and a mask that is true on real tokens; `seq` is the
/// longest row (at least 1).
pub(crate) fn pad_right<T: AsRef<[u32]>>(batch: &[T], pad: i64, device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
    let rows = batch.len();
    let seq = batch.iter().map(|ids| ids.as_ref().len()).max().unwrap_or(0).max(1);
    let mut ids = vec![pad; rows * seq];
    let mut keep = vec![false; rows * seq];
    for (r, row) in batch.iter().enumerate() {
        for (c, &id) in row.as_ref().iter().enumerate() {
            ids[r * seq + c] = i64::from(id);
            keep[r * seq + c] = true;
        }
    }
    (
        Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, seq]), device),
        Tensor::<2, Bool>::from_data(TensorData::new(keep, [rows, seq]), device),
    )
}
