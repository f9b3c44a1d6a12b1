//! Continuo's offline side: MIDI folders to token batches, the WaveNet and LSTM in burn,
//! training with checkpoints and resume, evaluation, and export to the model file the engine
//! and the plugin read.

pub mod allocator;
pub mod average;
pub mod batches;
pub mod bench;
pub mod checkpoint;
pub mod convert;
pub mod corpus;
pub mod eval;
pub mod fused;
pub mod lstm;
pub mod network;
pub mod options;
pub mod plot;
pub mod pointer;
pub mod sizes;
pub mod train;
pub mod wavenet;
