"""medgap: benchmark Chinese medical LLMs the MedBench way and turn the gaps into targeted fixes."""

__version__ = "0.1.0"
