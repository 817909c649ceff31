"""Instance selection for scale-up phases (seed 004): stratified, representative or random samples
of a SWE-bench dataset, always keeping a baseline set, reproducible from a seed."""
