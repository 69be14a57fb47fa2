"""The hub stack (`names.HUB_STACK_NAME`), in the account that deploys to the organization.

It holds the organization-wide alerts: an EventBridge bus that admits events from the organization's accounts
only (`aws:PrincipalOrgID`), where every member forwards Caretaker's alarms (`templates.member`), and a topic
people subscribe to, fed by a rule on that bus. Its output `MemberRegions` tells the CLI (`report --org`,
`mode --org`) where the members are. The artifact buckets are one per member region (Lambda reads code
from its own region) and a stack lives in one region, so `build.py deploy --organization` creates them with
the S3 API, each with a bucket policy that lets the organization read (docs/organizations.md).
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template, events, kms, sns

from templates import names
from templates.policies import POLICY_VERSION
from templates.stacks import StackDef, parameter_defaults

#: The organization-wide alert bus (in the hub's region); every member forwards its alarms to it.
HUB_ALERT_BUS_NAME = f"{names.STACK_PREFIX}-org-alerts"
ORGANIZATION_PARAMETER = "OrganizationId"
REGIONS_PARAMETER = "MemberRegionList"
ALERT_BUS_OUTPUT = "AlertBusArn"
ALERT_TOPIC_OUTPUT = "AlertTopicArn"


def hub_template() -> StackDef:
    template = Template(Description="Caretaker hub: organization-wide alert bus and topic, the member regions")
    org = template.add_parameter(Parameter(
        ORGANIZATION_PARAMETER, Type="String", AllowedPattern=r"^o-[a-z0-9]{10,32}$",
        Description="The organization whose accounts may put events on the alert bus (build.py deploy fills it)."))
    regions = template.add_parameter(Parameter(
        REGIONS_PARAMETER, Type="String", AllowedPattern=r"^[a-z0-9-]+(,[a-z0-9-]+)*$",
        Description="The member regions, comma-separated (the CLI's default regions for --org)."))
    bus = template.add_resource(events.EventBus("AlertBus", Name=HUB_ALERT_BUS_NAME))
    # the bus by its fixed name, not Ref (moto's Ref of a bus is not its name); GetAtt orders the creation
    template.add_resource(events.EventBusPolicy(
        "AlertBusPolicy", EventBusName=HUB_ALERT_BUS_NAME, StatementId="OrganizationPutsAlerts",
        Statement={"Sid": "OrganizationPutsAlerts", "Effect": "Allow", "Principal": "*",
                   "Action": "events:PutEvents", "Resource": GetAtt(bus, "Arn"),
                   "Condition": {"StringEquals": {"aws:PrincipalOrgID": Ref(org)}}},
    ))
    key = template.add_resource(kms.Key(
        "AlertKey", Description="Caretaker organization-wide alert topic encryption", EnableKeyRotation=True,
        KeyPolicy={"Version": POLICY_VERSION, "Statement": [
            {"Sid": "AccountAdministersTheKey", "Effect": "Allow",
             "Principal": {"AWS": Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "TheAlertRulePublishes", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}},
        ]}))
    topic = template.add_resource(sns.Topic("AlertTopic", DisplayName="Caretaker organization-wide alerts",
                                            KmsMasterKeyId=Ref(key)))
    rule = template.add_resource(events.Rule(
        "AlertRule", Description="Every member's Caretaker alarms to the organization-wide topic",
        EventBusName=HUB_ALERT_BUS_NAME, DependsOn=[bus], State="ENABLED",
        EventPattern={"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]},
        Targets=[events.Target(Arn=Ref(topic), Id="AlertTopic")]))
    template.add_resource(sns.TopicPolicy(
        "AlertTopicPolicy", Topics=[Ref(topic)],
        PolicyDocument={"Version": POLICY_VERSION, "Statement": [{
            "Sid": "TheAlertRulePublishes", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish", "Resource": Ref(topic),
            "Condition": {"ArnEquals": {"aws:SourceArn": GetAtt(rule, "Arn")}}}]}))
    template.add_output(Output(names.HUB_REGIONS_OUTPUT, Value=Ref(regions),
                               Description="Member regions, comma-separated"))
    template.add_output(Output(ALERT_BUS_OUTPUT, Value=GetAtt(bus, "Arn"),
                               Description="Organization-wide alert bus (members forward their alarms)"))
    template.add_output(Output(ALERT_TOPIC_OUTPUT, Value=Ref(topic),
                               Description="Organization-wide alert topic: subscribe here"))
    return StackDef(name=names.HUB_STACK_NAME, template=template, parameters=parameter_defaults(template))
