# Mirrors the README's commands.

# Run one scenario (default: the leader crashing before its first COMMIT) with a seed.
run scenario="scenarios/leader-crash-before-commit.toml" seed="42":
    cargo run --release -- run {{scenario}} --seed {{seed}}

# Run one scenario and write its HTML report (reports/<scenario>-<seed>.html).
report scenario="scenarios/leader-crash-before-commit.toml" seed="42":
    cargo run --release -- run {{scenario}} --seed {{seed}} --report

# Sweep seeds of a scenario, optionally with a bug variant: `just fuzz 0..500 zk-1154`.
fuzz seeds="0..1000" bug="" scenario="scenarios/swarm/five-servers-writes.toml":
    cargo run --release -- fuzz {{scenario}} --seeds {{seeds}} {{ if bug != "" { "--bug " + bug } else { "" } }}

# The test suite (the README's test command).
test:
    cargo test --workspace --release

# Benchmarks: events/s, simulated-to-wall ratio and peak memory per case, against the bare
# event loop (the README's performance table; JSON in reports/bench.json).
bench:
    cargo run --release -- bench --json reports/bench.json

# What CI runs.
ci:
    bash .ci/run
