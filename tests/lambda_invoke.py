"""Invoke the Lambda handler as Lambda's Python runtime does: import the module once, then call
`handler(event, context)` for each event in turn, in this one process (a warm environment).

Usage: python lambda_invoke.py INVOCATIONS.json, a list of {"event": ..., "request_id": ...};
prints one JSON line per invocation: {"result": ...} or {"error": "..."}. Standard library
only besides the handler, so that it runs with nothing but a deployment package on the path.
"""

import json
import sys
from dataclasses import dataclass

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:sweeplake-runner"


@dataclass(frozen=True)
class Context:
    """The attributes of Lambda's context object that the handler reads."""

    aws_request_id: str
    invoked_function_arn: str = FUNCTION_ARN


def main() -> int:
    from sweeplake.runners.lambda_handler import handler

    with open(sys.argv[1]) as handle:
        invocations = json.load(handle)
    for invocation in invocations:
        context = Context(invocation["request_id"], invocation.get("function", FUNCTION_ARN))
        try:
            print(json.dumps({"result": handler(invocation["event"], context)}), flush=True)
        except Exception as exc:  # what Lambda's runtime records as the invocation's error
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
