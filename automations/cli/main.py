"""`python -m automations`: the operator CLI (invoke, report, mode, restore-isolation, demo)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from automations.cli.report import FORMATS
from automations.core.errors import CaretakerError
from automations.core.spec import MODES
from templates import names

DEFAULT_DIST = Path("dist")
CORE_STACK = names.CORE_STACK_NAME


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m automations", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    invoke = commands.add_parser("invoke", help="run a function from its built artifact, as Lambda would")
    invoke.add_argument("name", help="function name (manifest `name`, e.g. ebs-snapshots)")
    invoke.add_argument("--event", type=Path, help="event JSON file (default: a realistic event for the trigger)")
    invoke.add_argument("--dry-run", action="store_true", help="force audit mode: log, change nothing")
    invoke.add_argument("--dist", type=Path, default=DEFAULT_DIST, help="build output folder (default: dist)")

    commands.add_parser("list", help="every declared function: trigger, default mode, description")

    report = commands.add_parser("report", help="runs and actions from the state log; `report savings`: savings")
    report.add_argument("what", nargs="?", choices=("savings",),
                        help="savings: realised and pending estimated savings by family (default: runs and actions)")
    report.add_argument("--run", dest="run_id", help="one run's actions")
    report.add_argument("--resource", dest="resource_id", help="one resource's history")
    report.add_argument("--since", help="runs started since (30m, 24h, 7d or ISO time; default 24h, savings 30d)")
    report.add_argument("--format", dest="fmt", choices=FORMATS, default="table",
                        help="table (default), json (one JSON document on stdout, nothing else) or html (one "
                             "self-contained page with charts on stdout)")
    report.add_argument("--table", help="state table (default: $CARETAKER_STATE_TABLE or the core stack's output)")
    _org_arguments(report, "every member account-region's runs and actions, through its caretaker-reader role "
                           "(--format table or json)")

    mode = commands.add_parser("mode", help="switch an automation's mode at run time (no deploy)")
    mode.add_argument("name", help="function name, or * for all")
    mode.add_argument("mode", choices=[*MODES, "clear"])
    mode.add_argument("--reason", required=True, help="why (recorded with the override)")
    mode.add_argument("--table", help="state table (default: $CARETAKER_STATE_TABLE or the core stack's output)")
    _org_arguments(mode, "in every member account-region's state table, through its caretaker-operator role")

    restore = commands.add_parser("restore-isolation",
                                  help="put back the security groups instance-isolation replaced (from the state log)")
    restore.add_argument("instance_id", help="the isolated instance (i-...)")
    restore.add_argument("--dry-run", action="store_true", help="print what would be restored, change nothing")
    restore.add_argument("--table", help="state table (default: $CARETAKER_STATE_TABLE or the core stack's output)")

    demo = commands.add_parser("demo", help="build, deploy into an embedded emulator, snapshot, report")
    demo.add_argument("--keep-dist", action="store_true", help="build into ./dist instead of a temporary folder")
    return root


def _org_arguments(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("--org", action="store_true", help=f"across the organization: {what}")
    command.add_argument("--accounts", help="with --org: these member accounts (comma-separated; default: the "
                                            "organization's ACTIVE accounts but the management account)")
    command.add_argument("--regions", help=f"with --org: these regions (comma-separated; default: the "
                                           f"{names.HUB_STACK_NAME} stack's {names.HUB_REGIONS_OUTPUT} output)")


def _org_scope(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    """`--accounts` and `--regions`, checked; they and `--org` go together, `--table` does not."""
    from automations.cli.org_access import parse_accounts, parse_regions

    if not args.org:
        if args.accounts or args.regions:
            raise ValueError("--accounts and --regions go with --org")
        return None, None
    if args.table:
        raise ValueError(f"--org reads each member's {names.MEMBER_STATE_TABLE} table: no --table")
    return (parse_accounts(args.accounts) if args.accounts else None,
            parse_regions(args.regions) if args.regions else None)


def state_table(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("CARETAKER_STATE_TABLE"):
        return os.environ["CARETAKER_STATE_TABLE"]
    try:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=CORE_STACK)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise CaretakerError(f"no state table: pass --table, set CARETAKER_STATE_TABLE or deploy {CORE_STACK} "
                             f"({exc})") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if "StateTableName" not in outputs:
        raise CaretakerError(f"{CORE_STACK} has no StateTableName output")
    return outputs["StateTableName"]


def _report(args: argparse.Namespace) -> int:
    from automations.cli.report import parse_since, report
    from automations.cli.savings import report_savings

    accounts, regions = _org_scope(args)
    if args.org:
        from automations.cli.org_access import OrgAccess
        from automations.cli.report_org import report_org

        if args.what or args.run_id or args.resource_id:
            raise ValueError("report --org takes --since, --accounts, --regions and --format")
        return report_org(OrgAccess(), since=parse_since(args.since or "24h"), accounts=accounts,
                          regions=regions, fmt=args.fmt)
    client = boto3.client("dynamodb")
    if args.what == "savings":
        if args.run_id or args.resource_id:
            raise ValueError("report savings takes --since, not --run or --resource")
        if args.fmt == "html":
            raise ValueError("report savings prints table or json")
        report_savings(client, state_table(args.table), parse_since(args.since or "30d"), fmt=args.fmt)
        return 0
    report(client, state_table(args.table), run_id=args.run_id, resource_id=args.resource_id,
           since=parse_since(args.since or "24h"), fmt=args.fmt)
    return 0


def _mode(args: argparse.Namespace) -> int:
    from automations.cli.mode import set_mode, set_mode_org

    accounts, regions = _org_scope(args)
    mode = None if args.mode == "clear" else args.mode
    if args.org:
        from automations.cli.org_access import OrgAccess

        return set_mode_org(OrgAccess(), args.name, mode, reason=args.reason, accounts=accounts, regions=regions)
    return set_mode(boto3.client("dynamodb"), boto3.client("sts"), state_table(args.table), args.name, mode,
                    reason=args.reason)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "invoke":
            from automations.cli.invoke import invoke

            event = json.loads(args.event.read_text()) if args.event else None
            outcome = invoke(args.name, dist=args.dist, event=event, dry_run=args.dry_run)
            print(f"environment: {outcome.environment_source}", file=sys.stderr)
            print(json.dumps(outcome.result if outcome.ok else outcome.error, indent=2, default=str))
            return outcome.exit_code
        if args.command == "list":
            from automations.cli.catalog import print_catalog

            print_catalog()
            return 0
        if args.command == "report":
            return _report(args)
        if args.command == "mode":
            return _mode(args)
        if args.command == "restore-isolation":
            from automations.cli.restore_isolation import restore_isolation

            for line in restore_isolation(boto3.client("ec2"), boto3.client("dynamodb"), state_table(args.table),
                                          args.instance_id, dry_run=args.dry_run):
                print(line)
            return 0
        if args.command == "demo":
            from automations.cli.demo import demo

            return demo(keep_dist=args.keep_dist)
    except (CaretakerError, ValueError, LookupError, OSError, ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 1
