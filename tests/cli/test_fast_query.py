"""The CLI's shorter parse of DynamoDB Query answers (`report --org`) returns what botocore's own parse returns,
page by page, and leaves an answer that may hold a binary value to botocore."""

from __future__ import annotations

from typing import Any

import boto3

from automations.cli.fast_query import parse_queries_fast
from automations.core.store import query_items
from tests.automations.conftest import REGION, create_state_table

TABLE = "caretaker-state"
ITEM: dict[str, Any] = {"pk": {"S": "RUN#r1"}, "count": {"N": "12"}, "ratio": {"N": "0.5"}, "dry_run": {"BOOL": False},
        "nothing": {"NULL": True}, "tags": {"SS": ["a", "b"]}, "sizes": {"NS": ["1", "2"]},
        "details": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {}}]}, "text": {"S": "é \\ \"q\""}}}}


def _query(client: Any, **extra: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator("query").paginate(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "RUN#r1"}},
        **extra)
    return [item for page in pages for item in page["Items"]]


def test_items_are_those_botocore_parses_on_every_page_and_binary_goes_the_usual_way() -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    create_state_table(TABLE, client)
    for n in range(5):
        client.put_item(TableName=TABLE, Item={**ITEM, "sk": {"S": f"A#{n:04d}"}})
    client.put_item(TableName=TABLE, Item={"pk": {"S": "RUN#r1"}, "sk": {"S": "B#1"}, "blob": {"B": b"\x00\x01"}})
    client.put_item(TableName=TABLE, Item={"pk": {"S": "RUN#r1"}, "sk": {"S": "C#1"},
                                           "text": {"S": 'holds "B": as text'}})
    fast = parse_queries_fast(boto3.client("dynamodb", region_name=REGION))
    taken: list[bool] = []
    fast.meta.events.register("before-parse.dynamodb.Query",
                              lambda customized_response_dict, **_: taken.append("Items" in customized_response_dict))

    assert _query(fast, Limit=2) == _query(client, Limit=2)  # paginated: LastEvaluatedKey still parsed
    # A0-A1, A2-A3 short; A4-B1 (binary) botocore's; C1 short (in JSON the text reads `\"B\":`, not a key)
    assert taken[:4] == [True, True, False, True]
    assert [i["sk"] for i in _query(fast, Limit=2)] == [{"S": s} for s in
                                                        ("A#0000", "A#0001", "A#0002", "A#0003", "A#0004", "B#1",
                                                         "C#1")]
    assert _query(fast)[5]["blob"] == {"B": b"\x00\x01"}
    assert query_items(fast, TABLE, "RUN#r1") == query_items(client, TABLE, "RUN#r1")
