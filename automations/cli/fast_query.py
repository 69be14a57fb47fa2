"""A shorter parse of DynamoDB Query answers for the CLI's reads across members (`report --org`).

botocore parses a Query answer by walking the service model down to every attribute value of every item, which
is most of the CLI's own CPU time when it reads 150 ledgers of 100 runs each (docs/performance.md, section 6).
The items' attribute values are already, in the answer's JSON, what that walk returns (`{"S": ...}`,
`{"N": "..."}`, `{"M": {...}}`, ...) but for binary values, which botocore base64-decodes. So on a successful
answer holding no binary value, the items are taken from the JSON as they are (botocore's `before-parse`
event, `customized_response_dict`) and botocore parses the rest (counts, `LastEvaluatedKey`). An answer that
might hold one (a `"B":` or `"BS":` anywhere in its JSON) goes the usual way.
"""

from __future__ import annotations

import json
from typing import Any

_BINARY = (b'"B":', b'"BS":')


def take_items_unparsed(response_dict: dict[str, Any], customized_response_dict: dict[str, Any],
                        **_: Any) -> None:
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes) or any(b in body for b in _BINARY):
        return
    try:
        document = json.loads(body)
    except ValueError:
        return  # botocore reports it
    items = document.pop("Items", None) if isinstance(document, dict) else None
    if not isinstance(items, list):
        return
    customized_response_dict["Items"] = items
    response_dict["body"] = json.dumps(document).encode()


def parse_queries_fast(client: Any) -> Any:
    """`client` (DynamoDB) with the shorter parse of its Query answers."""
    client.meta.events.register("before-parse.dynamodb.Query", take_items_unparsed)
    return client
