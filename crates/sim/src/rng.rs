//! Seeded random streams, one per concern.
//!
//! Each concern draws from its own ChaCha stream derived from the seed, so that adding a
//! client or a fault does not reshuffle network delays.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The concerns that draw random numbers.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Network = 1,
    Disk = 2,
    Faults = 3,
    Workload = 4,
}

/// A ChaCha stream for one concern (servers use `Stream` ids from 16 on).
pub fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Uniform draw from an inclusive `[min, max]` range.
pub fn between(rng: &mut ChaCha8Rng, (min, max): (u64, u64)) -> u64 {
    if min >= max {
        min
    } else {
        rng.gen_range(min..=max)
    }
}
