# Mirrors the README's commands.

# Build and install the `sim` command (the commands zabsim prints are `sim` commands).
install:
    cargo install --locked --quiet --path crates/cli

# Run one scenario (default: the leader crashing before its first COMMIT) with a seed.
run scenario="scenarios/leader-crash-before-commit.toml" seed="42": install
    sim run {{scenario}} --seed {{seed}}

# Run one scenario and write its HTML report (reports/<scenario>-<seed>.html).
report scenario="scenarios/leader-crash-before-commit.toml" seed="42": install
    sim run {{scenario}} --seed {{seed}} --report

# The long sweep: generated scenarios and mutated scenario files through proptest, then
# swarm seeds of the 5-server swarm with writes (the tests run 512 and 256 cases).
fuzz cases="20000" seeds="0..10000": install
    PROPTEST_CASES={{cases}} cargo test --release -p sim --test generated_scenarios
    PROPTEST_CASES={{cases}} cargo test --release -p scenario --test no_panic
    sim fuzz scenarios/swarm/five-servers-writes.toml --swarm --zk fixed --seeds {{seeds}}

# Sweep seeds of a scenario, optionally with a bug variant: `just sweep 0..500 zk-1154`.
sweep seeds="0..1000" bug="" scenario="scenarios/swarm/five-servers-writes.toml": install
    sim fuzz {{scenario}} --seeds {{seeds}} {{ if bug != "" { "--bug " + bug } else { "" } }}

# Sweep seeds and write the sweep's HTML report (reports/fuzz-<scenario>-<A>-<B>.html).
fuzz-report seeds="0..200" bug="zk-1154" scenario="scenarios/swarm/five-servers-writes.toml": install
    sim fuzz {{scenario}} --seeds {{seeds}} {{ if bug != "" { "--bug " + bug } else { "" } }} --report

# How fast a swarm sweep finds each bug variant, as the README's table.
hunt: install
    sim hunt --zk fixed --markdown

# Regenerate every library scenario's golden file after a deliberate change; review the diff.
golden:
    cargo build --release
    for f in $(find scenarios -name '*.toml' -not -path '*/swarm/*' | sort); do ./target/release/sim run "$f" --rewrite > /dev/null || exit 1; done

# The test suite (the README's test command).
test:
    cargo test --workspace --release

# Benchmarks: events/s, simulated-to-wall ratio and peak memory per case, against the bare
# event loop (the README's performance table; JSON in reports/bench.json).
bench: install
    sim bench --json reports/bench.json

# What CI runs.
ci:
    bash .ci/run
