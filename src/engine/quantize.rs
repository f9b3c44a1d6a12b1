//! Post-training int8 quantization of a model file: every dense matrix becomes symmetric int8
//! with one f32 scale per output row (max |w| / 127); embeddings, conditioning and biases stay
//! f32. The engine quantizes activations dynamically, per vector, at run time. Dequantization
//! turns an int8 file back into f32 weights (`q * scale`), so training can start from one.

use crate::model::{dense_layers, names, ModelFile, Precision, StoredTensor};

use super::kernels::INT8_MAX_MAGNITUDE;

/// The int8 version of an f32 model (an int8 model is returned unchanged).
pub fn quantize(model: &ModelFile) -> ModelFile {
    let mut quantized = model.clone();
    if model.meta.precision == Precision::Int8 {
        return quantized;
    }
    for layer in dense_layers(&model.meta.architecture, model.meta.vocab_size) {
        let weight_name = names::weight(&layer.prefix);
        let weights = model.f32(&weight_name).expect("an f32 model stores f32 matrices");
        let (values, scales) = quantize_rows(weights, layer.inputs);
        quantized.tensors.insert(weight_name, StoredTensor::i8(vec![layer.outputs, layer.inputs], values));
        quantized.tensors.insert(names::weight_scale(&layer.prefix), StoredTensor::f32(vec![layer.outputs], scales));
    }
    quantized.meta.precision = Precision::Int8;
    quantized
}

/// The f32 version of an int8 model: each matrix entry becomes `q * scale` of its row and the
/// scales are dropped (an f32 model is returned unchanged). Assumes a validated file, whose
/// int8 matrices all carry their scales.
pub fn dequantize(model: &ModelFile) -> ModelFile {
    let mut dequantized = model.clone();
    if model.meta.precision == Precision::F32 {
        return dequantized;
    }
    for layer in dense_layers(&model.meta.architecture, model.meta.vocab_size) {
        let weight_name = names::weight(&layer.prefix);
        let scale_name = names::weight_scale(&layer.prefix);
        let values = model.i8(&weight_name).expect("an int8 model stores int8 matrices");
        let scales = model.f32(&scale_name).expect("an int8 matrix has its row scales");
        let weights = values.iter().enumerate().map(|(index, &q)| q as f32 * scales[index / layer.inputs]).collect();
        dequantized.tensors.insert(weight_name, StoredTensor::f32(vec![layer.outputs, layer.inputs], weights));
        dequantized.tensors.remove(&scale_name);
    }
    dequantized.meta.precision = Precision::F32;
    dequantized
}

/// Symmetric per-row int8: `w ~= q * scale`, `q` in -127..=127.
fn quantize_rows(weights: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut values = Vec::with_capacity(weights.len());
    let mut scales = Vec::with_capacity(weights.len() / cols);
    for row in weights.chunks_exact(cols) {
        let max_magnitude = row.iter().fold(0.0f32, |max, w| max.max(w.abs()));
        let scale = max_magnitude / INT8_MAX_MAGNITUDE;
        let steps_per_unit = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        values.extend(row.iter().map(|w| (w * steps_per_unit).round().clamp(-INT8_MAX_MAGNITUDE, INT8_MAX_MAGNITUDE) as i8));
        scales.push(scale);
    }
    (values, scales)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random_model::random_wavenet;
    use crate::model::WaveNetConfig;

    #[test]
    fn quantized_models_validate_and_dequantize_within_half_a_step() {
        let config = WaveNetConfig { residual_channels: 8, skip_channels: 16, stacks: 1, layers_per_stack: 3, conditioned: true, repeat_pointer: false, copy_keys: 0 };
        let model = random_wavenet(config, 3);
        let int8 = quantize(&model);
        let reloaded = ModelFile::from_bytes(&int8.to_bytes(), "int8").expect("valid int8 file");
        assert_eq!(reloaded.meta.precision, Precision::Int8);
        let restored_model = ModelFile::from_bytes(&dequantize(&reloaded).to_bytes(), "dequantized").expect("valid f32 file");
        assert_eq!(restored_model.meta.precision, Precision::F32);
        assert_eq!(restored_model.tensors.keys().collect::<Vec<_>>(), model.tensors.keys().collect::<Vec<_>>());
        for layer in dense_layers(&model.meta.architecture, model.meta.vocab_size) {
            let original = model.f32(&names::weight(&layer.prefix)).unwrap();
            let restored = restored_model.f32(&names::weight(&layer.prefix)).unwrap();
            let scales = reloaded.f32(&names::weight_scale(&layer.prefix)).unwrap();
            for (i, (a, b)) in original.iter().zip(restored).enumerate() {
                assert!((a - b).abs() <= scales[i / layer.inputs] * 0.5 + 1e-7, "{}: {a} vs {b}", layer.prefix);
            }
        }
        assert_eq!(quantize(&int8), int8, "quantizing twice changes nothing");
        assert_eq!(dequantize(&model), model, "an f32 model stays as it is");
    }
}
