//! Training throughput on random tokens, the same protocol as
//! `shared/tools/wavenet_torch.py`: one warm-up step, then timed Adam steps.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use continuo::model::{Architecture, WaveNetConfig};
use continuo::tokens::VOCAB_SIZE;
use rand::{Rng, SeedableRng};

use crate::batches::Batch;
use crate::network::{initial_model_file, Network};

/// What one throughput measurement found.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    /// Mean seconds per timed step.
    pub seconds_per_step: f64,
    /// Target tokens trained per second.
    pub tokens_per_second: f64,
}

/// A batch of uniformly random tokens, every position scored.
fn random_tokens(rows: usize, seq: usize, rng: &mut impl Rng) -> Batch {
    let tokens: Vec<i64> = (0..rows * (seq + 1)).map(|_| rng.random_range(0..VOCAB_SIZE as i64)).collect();
    let row = |r: usize| &tokens[r * (seq + 1)..(r + 1) * (seq + 1)];
    Batch {
        rows,
        seq,
        inputs: (0..rows).flat_map(|r| row(r)[..seq].to_vec()).collect(),
        targets: (0..rows).flat_map(|r| row(r)[1..].to_vec()).collect(),
        mask: vec![1.0; rows * seq],
        features: None,
        dropout_seed: None,
    }
}

/// Times `steps` Adam steps of an unconditioned WaveNet after one warm-up step; `report` hears
/// each step's seconds.
pub fn measure(config: WaveNetConfig, rows: usize, seq: usize, steps: usize, device: &Device, mut report: impl FnMut(usize, f64)) -> anyhow::Result<Throughput> {
    let device = device.clone().autodiff();
    let config = WaveNetConfig { conditioned: false, ..config };
    let mut network = Network::from_model_file(&initial_model_file(Architecture::WaveNet(config), 0), &device)?;
    let mut optimizer = AdamConfig::new().init();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    let mut timed = 0.0;
    for step in 0..=steps {
        let batch = random_tokens(rows, seq, &mut rng);
        let started = Instant::now();
        let (loss, _) = network.loss(&batch, &device);
        let gradients = GradientsParams::from_grads(loss.backward(), &network);
        network = optimizer.step(1e-3, network, gradients);
        device.sync()?;
        let seconds = started.elapsed().as_secs_f64();
        report(step, seconds);
        if step > 0 {
            timed += seconds;
        }
    }
    Ok(Throughput { seconds_per_step: timed / steps as f64, tokens_per_second: (rows * seq * steps) as f64 / timed })
}
