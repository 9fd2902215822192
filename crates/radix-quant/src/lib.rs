//! radix-quant
