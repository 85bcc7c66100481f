"""Validates an OpenAPI document with the real openapi-spec-validator.

Usage: openapi_validate.py DOCUMENT.json
Exit code 0 and "valid <version>" when the document is valid; 1 with every error found.
"""

import json
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from openapi_spec_validator.versions.shortcuts import get_spec_version


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    try:
        validate(spec)
    except OpenAPIValidationError as err:
        print(f"invalid: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # e.g. a `$ref` to a schema that does not exist
        print(f"invalid: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"valid {get_spec_version(spec)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
