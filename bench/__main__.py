"""`python -m bench ...`: the benchmark harness (see bench.harness)."""

from bench.harness import main

raise SystemExit(main())
