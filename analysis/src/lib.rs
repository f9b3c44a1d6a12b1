//! Continuo's evaluation tools: the baselines a model card compares against (add-one unigram and
//! a variable-order Markov model, the Continuator's approach), music statistics that compare
//! generated continuations with real ones, and piano-roll pictures.

pub mod baseline;
pub mod dataset;
pub use continuo::markov;
pub mod phrases;
pub mod pianoroll;
pub mod plot_font;
pub mod quality;
pub mod stats;
