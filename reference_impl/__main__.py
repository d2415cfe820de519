"""``python -m reference_impl serve|superuser ...``: the server alone, without the harness."""

import argparse
import sys

from reference_impl import cli

parser = argparse.ArgumentParser(prog="python -m reference_impl")
sub = parser.add_subparsers(dest="command", required=True)
cli.add_serve_parser(sub)
cli.add_superuser_parser(sub)
args = parser.parse_args()
sys.exit(args.handler(args))
