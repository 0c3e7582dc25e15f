"""Local tooling: the moto stand-in for AWS, the demo world, the demo and the benchmarks."""
