"""`python build.py [--out DIR] [--no-lint]` and `python build.py deploy ...`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from builder.errors import BuilderError, DeployError, LintError
from builder.manifest import MANIFEST_NAME
from builder.org_config import DEFAULT_FAILURE_TOLERANCE_PERCENTAGE, DEFAULT_MAX_CONCURRENT_PERCENTAGE
from builder.pipeline import DEFAULT_OUT, BuildResult, build

ORGANIZATION_ONLY = ("targets", "accounts", "regions", "home_region", "config")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="build.py",
        description="Build Caretaker into dist/ (artifacts, templates, manifest.json), or deploy a build.",
    )
    root.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: dist/)")
    root.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    commands = root.add_subparsers(dest="command", metavar="{deploy}")
    deploy = commands.add_parser(
        "deploy", help="upload artifacts and templates, then create or update every stack",
        description="Deploy dist/ (building it first when dist/manifest.json is missing). Uses the "
                    "usual AWS credentials and honours AWS_ENDPOINT_URL.",
    )
    deploy.add_argument("--out", type=Path, default=argparse.SUPPRESS, help="the build directory (default: dist/)")
    deploy.add_argument("--no-lint", action="store_true", default=argparse.SUPPRESS,
                        help="skip cfn-lint if a build is needed")
    deploy.add_argument("--bucket", required=True, help="S3 bucket for artifacts and templates")
    deploy.add_argument("--create-bucket", action="store_true", help="create the bucket if it does not exist")
    deploy.add_argument("--prefix", default="", help="S3 key prefix (ArtifactPrefix), e.g. caretaker/")
    deploy.add_argument("--region", default=None, help="AWS region (default: from the environment/profile)")
    deploy.add_argument("--parameter", action="append", default=[], metavar="Stack.Key=Value",
                        help="override a template parameter of one stack (repeatable)")
    org = deploy.add_argument_group(
        "organization", "--organization deploys the hub stack and the member stack sets with the management or "
                        "delegated administrator account's credentials (docs/organizations.md)")
    org.add_argument("--organization", action="store_true", help="deploy to the organization through StackSets")
    org.add_argument("--targets", help="OU, root or account ids, comma-separated (SERVICE_MANAGED)")
    org.add_argument("--accounts", help="account ids, comma-separated (SELF_MANAGED: no trusted access)")
    org.add_argument("--regions", help="member regions, comma-separated")
    org.add_argument("--home-region", default=None,
                     help="region of the hub and of the account-scoped stack set (default: us-east-1, where IAM's "
                          "events arrive)")
    org.add_argument("--config", type=Path, default=None, help="caretaker.toml: targets, regions, overrides")
    org.add_argument("--max-concurrent-percentage", type=int, default=DEFAULT_MAX_CONCURRENT_PERCENTAGE,
                     help="StackSets: share of accounts deployed at once per region "
                          f"(default {DEFAULT_MAX_CONCURRENT_PERCENTAGE})")
    org.add_argument("--failure-tolerance-percentage", type=int, default=DEFAULT_FAILURE_TOLERANCE_PERCENTAGE,
                     help="StackSets: share of accounts that may fail per region before it stops "
                          f"(default {DEFAULT_FAILURE_TOLERANCE_PERCENTAGE})")
    org.add_argument("--delegated-admin", action="store_true",
                     help="call StackSets as the organization's delegated administrator (CallAs=DELEGATED_ADMIN)")
    return root


def _summary(result: BuildResult, seconds: float, linted: bool) -> str:
    functions = len(result.manifest["functions"])
    return (f"built {result.dist}: {result.code.name}, {result.layer.name}, {result.bytecode.name} "
            f"({result.bytecode_choice.describe()}), {len(result.templates)} templates, "
            f"{functions} function(s), lint {'ok' if linted else 'skipped'} in {seconds:.2f} s")


def run(args: argparse.Namespace) -> None:
    out: Path = args.out
    if args.command is None or not (out / MANIFEST_NAME).exists():
        started = time.perf_counter()
        result = build(out, lint=not args.no_lint)
        print(_summary(result, time.perf_counter() - started, not args.no_lint))
    if args.command == "deploy" and args.organization:
        deploy_to_organization(args, out)
    elif args.command == "deploy":
        from builder.deploy import deploy, parse_parameter_overrides  # boto3 only when deploying

        deploy(out, args.bucket, prefix=args.prefix, region=args.region, create_bucket=args.create_bucket,
               parameters=parse_parameter_overrides(args.parameter))


def check_flags(args: argparse.Namespace) -> None:
    if args.command != "deploy":
        return
    if not args.organization:
        given = [f"--{name.replace('_', '-')}" for name in ORGANIZATION_ONLY if getattr(args, name) is not None]
        if given:
            raise DeployError(f"{', '.join(given)} only with --organization")
    elif args.parameter or args.region:
        raise DeployError("--organization takes overrides from --config (caretaker.toml) and regions from "
                          "--regions, not --parameter or --region")


def deploy_to_organization(args: argparse.Namespace, out: Path) -> None:
    from builder.org_config import load_config, resolve  # boto3 only when deploying
    from builder.org_deploy import RolloutOptions, deploy_organization

    config = resolve(load_config(args.config) if args.config else None, targets=args.targets,
                     accounts=args.accounts, regions=args.regions, home_region=args.home_region)
    options = RolloutOptions(max_concurrent_percentage=args.max_concurrent_percentage,
                             failure_tolerance_percentage=args.failure_tolerance_percentage,
                             delegated_admin=args.delegated_admin)
    deploy_organization(out, args.bucket, config, prefix=args.prefix, create_bucket=args.create_bucket,
                        options=options)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        check_flags(args)
        run(args)
    except LintError as error:
        for finding in error.findings:
            print(finding, file=sys.stderr)
        print(f"build.py: {error}", file=sys.stderr)
        return 1
    except BuilderError as error:
        print("build.py: " + " ".join(str(error).split()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build.py: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the contract is one line, whatever failed (I/O, AWS credentials...)
        reason = " ".join(str(error).split())
        print(f"build.py: {type(error).__name__}: {reason}", file=sys.stderr)
        return 1
    return 0
