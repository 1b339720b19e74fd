"""The embedded default: moto on loopback, adapters over its internals, the Bedrock stand-in, the deployer."""
