#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth -c env=dev` builds the stack from config/dev.yaml."""

import sys

from stacks.app_builder import build_app
from stacks.config import ConfigError
from stacks.functions import LayerNotBuiltError

if __name__ == "__main__":
    try:
        build_app().synth()
    except (ConfigError, LayerNotBuiltError) as error:
        print(error, file=sys.stderr)
        sys.exit(1)
