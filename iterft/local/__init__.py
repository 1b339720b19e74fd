"""The embedded default: moto on loopback, adapters over its internals, the Bedrock stand-in, the deployer."""

import os

# The deployer synthesizes with the CDK's jsii runtime, which prints an end-of-life banner on Node 20
# (the Makefile exports the same for `make demo`; this covers `python -m iterft.demo` outside make).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
