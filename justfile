# Mirrors the README's commands.

# Run one scenario (default: the basic election) with a seed.
run scenario="scenarios/election-basic.toml" seed="42":
    cargo run --release -- run {{scenario}} --seed {{seed}}

# The test suite (the README's test command).
test:
    cargo test --workspace --release

# Benchmarks: events per second and simulated-to-wall ratio.
bench:
    cargo bench -p sim --bench election_storm

# What CI runs.
ci:
    bash .ci/run
