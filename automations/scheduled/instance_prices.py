"""On-demand hourly list prices for the scheduler's savings estimate (us-east-1, Linux, 2026).

A small table, like the cleanup families' per-GB prices (automations/scheduled/cleanup/settings.py):
enough to say roughly what a schedule saves, not a bill. A type not in the table is priced at 0 and
counted as unpriced in the notification. Monthly figures use AWS's 730 hours a month
(`cleanup.notice.HOURS_PER_MONTH`).
"""

from __future__ import annotations

#: EC2 instance type -> USD an hour
EC2_HOURLY: dict[str, float] = {
    "t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
    "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
    "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
    "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m7i.large": 0.1008, "m7g.large": 0.0816,
    "c5.large": 0.085, "c5.xlarge": 0.17, "c6i.large": 0.085, "c7g.large": 0.0725,
    "r5.large": 0.126, "r5.xlarge": 0.252, "r6i.large": 0.126, "r7g.large": 0.1071,
}

#: RDS instance class -> USD an hour (single-AZ; Multi-AZ counts twice)
RDS_HOURLY: dict[str, float] = {
    "db.t3.micro": 0.017, "db.t3.small": 0.034, "db.t3.medium": 0.068, "db.t3.large": 0.136,
    "db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065, "db.t4g.large": 0.129,
    "db.m5.large": 0.171, "db.m5.xlarge": 0.342, "db.m6g.large": 0.152, "db.m6i.large": 0.171,
    "db.r5.large": 0.25, "db.r5.xlarge": 0.50, "db.r6g.large": 0.225, "db.r6i.large": 0.25,
    "db.serverless": 0.0,
}


def ec2_hourly(instance_type: str) -> float | None:
    return EC2_HOURLY.get(instance_type)


def rds_hourly(instance_class: str, multi_az: bool = False) -> float | None:
    price = RDS_HOURLY.get(instance_class)
    return None if price is None else price * (2 if multi_az else 1)
