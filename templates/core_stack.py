"""The core stack: the state table and its key, the alert and chat topics and their key, and the two layers
every function uses."""

from __future__ import annotations

from troposphere import (
    AWSHelperFn,
    Equals,
    Export,
    GetAtt,
    Join,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    dynamodb,
    kms,
    sns,
    ssm,
)
from troposphere.awslambda import Content, LayerVersion

from automations.core import state_schema
from automations.core.notify import CHAT_TOPIC_SUFFIX
from templates import names
from templates.parameters import add_artifact_parameters

LAYER_NAME = "caretaker-dependencies"
#: Core stack parameter: `enabled` (default) creates the chat topic, `disabled` leaves it out.
CHAT_PARAMETER = "ChatNotifications"
CHAT_CONDITION = "ChatNotificationsEnabled"
BYTECODE_LAYER_NAME = "caretaker-bytecode"


def _export(template: Template, name: str, value: object, description: str, condition: str | None = None) -> Output:
    output = Output(name, Value=value, Description=description, Export=Export(Sub("${AWS::StackName}-" + name)))
    if condition is not None:
        output.Condition = condition
    return template.add_output(output)


def _account_root() -> dict[str, object]:
    return {"Sid": "AccountAdministersTheKey", "Effect": "Allow",
            "Principal": {"AWS": Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
            "Action": "kms:*", "Resource": "*"}


def state_key() -> kms.Key:
    """Caretaker's key for what it keeps: the state table and every function's dead-letter queue.

    Both hold event payloads, which can carry secret-bearing properties. A key of its own, not the
    alert key: the alert key must let CloudWatch alarms use it, this one serves only Caretaker's roles
    through DynamoDB and SQS (their IAM policies, `spec.BASELINE_PERMISSIONS`; the key policy delegates
    to IAM), and if it is disabled the alarms that report the stopped functions still reach the topic.
    Retained with the table: a retained table whose key is deleted could never be read again.
    """
    return kms.Key(
        "StateKey",
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        Description="Caretaker state table and dead-letter queue encryption",
        EnableKeyRotation=True,
        KeyPolicy={"Version": "2012-10-17", "Statement": [_account_root()]},
    )


def state_table(key: kms.Key) -> dynamodb.Table:
    """On-demand, point-in-time recovery, encrypted with `key`, TTL on `state_schema.TTL_ATTRIBUTE`."""
    key_attributes = [state_schema.PARTITION_KEY, state_schema.SORT_KEY]
    for _, pk, sk in state_schema.INDEXES:
        key_attributes += [pk, sk]
    return dynamodb.Table(
        "StateTable",
        DeletionPolicy="Retain",  # the audit trail outlives the stack
        UpdateReplacePolicy="Retain",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            dynamodb.AttributeDefinition(AttributeName=name, AttributeType="S")
            for name in dict.fromkeys(key_attributes)
        ],
        KeySchema=[
            dynamodb.KeySchema(AttributeName=state_schema.PARTITION_KEY, KeyType="HASH"),
            dynamodb.KeySchema(AttributeName=state_schema.SORT_KEY, KeyType="RANGE"),
        ],
        GlobalSecondaryIndexes=[
            dynamodb.GlobalSecondaryIndex(
                IndexName=index,
                KeySchema=[
                    dynamodb.KeySchema(AttributeName=pk, KeyType="HASH"),
                    dynamodb.KeySchema(AttributeName=sk, KeyType="RANGE"),
                ],
                Projection=dynamodb.Projection(ProjectionType="ALL"),
            )
            for index, pk, sk in state_schema.INDEXES
        ],
        PointInTimeRecoverySpecification=dynamodb.PointInTimeRecoverySpecification(
            PointInTimeRecoveryEnabled=True,
        ),
        SSESpecification=dynamodb.SSESpecification(SSEEnabled=True, SSEType="KMS",
                                                    KMSMasterKeyId=GetAtt(key, "Arn")),
        TimeToLiveSpecification=dynamodb.TimeToLiveSpecification(
            AttributeName=state_schema.TTL_ATTRIBUTE, Enabled=True,
        ),
    )


def alert_key() -> kms.Key:
    """A customer-managed key for the alert topic.

    CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed `alias/aws/sns`
    key (its policy cannot be changed), so the topic gets its own key that alarms may use.
    """
    return kms.Key(
        "AlertKey",
        Description="Caretaker alert topic encryption",
        EnableKeyRotation=True,
        KeyPolicy={
            "Version": "2012-10-17",
            "Statement": [
                _account_root(),
                {"Sid": "AlarmsPublishToTheAlertTopic", "Effect": "Allow",
                 "Principal": {"Service": "cloudwatch.amazonaws.com"},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}},
            ],
        },
    )


def alert_topic(key: kms.Key) -> sns.Topic:
    return sns.Topic("AlertTopic", DisplayName="Caretaker alerts", KmsMasterKeyId=Ref(key))


def chat_topic(key: kms.Key, alert: sns.Topic) -> sns.Topic:
    """Every notification again, in AWS Chatbot's custom notification format: subscribe a Chatbot (Amazon Q
    Developer in chat applications) Slack or Teams channel configuration to it, with a filter policy per
    team channel (docs/operations.md). Optional (`ChatNotifications`, default enabled: nobody subscribed
    costs one Publish per notification). Encrypted with the alert key, like the alert topic.

    Named after the alert topic (`<alert topic name>-chat`, `notify.chat_topic_arn`): functions derive its
    ARN from the alert topic's instead of carrying a second ARN in their environment (Lambda's 4 KB hold
    the own-role list, tests/templates/test_own_roles.py)."""
    return sns.Topic("ChatTopic", TopicName=Sub("${Name}" + CHAT_TOPIC_SUFFIX, Name=GetAtt(alert, "TopicName")),
                     DisplayName="Caretaker chat notifications", KmsMasterKeyId=Ref(key), Condition=CHAT_CONDITION)


def add_chat_parameter(template: Template) -> Parameter:
    """`ChatNotifications`: whether the chat topic exists (functions find it by name, so nothing imports it and
    switching it off later is an ordinary update)."""
    parameter = template.add_parameter(Parameter(
        CHAT_PARAMETER, Type="String", Default="enabled", AllowedValues=["enabled", "disabled"],
        Description="enabled: a second topic (ChatTopicArn) gets every notification in AWS Chatbot's format, for "
                    "Slack or Teams channel configurations; disabled: no chat topic"))
    template.add_condition(CHAT_CONDITION, Equals(Ref(parameter), "enabled"))
    return parameter


def layer_version(title: str, layer_name: str, what: str, artifact_name: str, bucket: AWSHelperFn,
                  prefix: AWSHelperFn) -> LayerVersion:
    return LayerVersion(
        title,
        LayerName=layer_name,
        Description=f"Caretaker {what} ({artifact_name})",
        Content=Content(S3Bucket=bucket, S3Key=Join("", [prefix, artifact_name])),
        CompatibleRuntimes=[names.RUNTIME],
        CompatibleArchitectures=[names.ARCHITECTURE],
    )


def layer_arn_parameter(title: str, layer: LayerVersion, ssm_suffix: str, what: str) -> ssm.Parameter:
    """The SSM parameter function stacks read the layer's current version from (see `names`)."""
    return ssm.Parameter(
        title,
        Name=Sub("/${AWS::StackName}" + ssm_suffix),
        Type="String",
        Value=Ref(layer),
        Description=f"Current Caretaker {what} layer version; function stacks read it at deploy time",
    )


def core_template(layer_artifact_name: str, bytecode_artifact_name: str) -> Template:
    """The `caretaker-core` template; the arguments are the two layer zips' file names."""
    template = Template(Description="Caretaker core: state table, alert and chat topics, their keys, dependency "
                                    "and bytecode layers")
    bucket, prefix = add_artifact_parameters(template)
    state = template.add_resource(state_key())
    table = template.add_resource(state_table(state))
    key = template.add_resource(alert_key())
    topic = template.add_resource(alert_topic(key))
    add_chat_parameter(template)
    chat = template.add_resource(chat_topic(key, topic))
    layer = template.add_resource(layer_version("DependencyLayer", LAYER_NAME, "runtime dependencies",
                                                layer_artifact_name, Ref(bucket), Ref(prefix)))
    bytecode_layer = template.add_resource(layer_version(
        "BytecodeLayer", BYTECODE_LAYER_NAME, "bytecode of its own modules", bytecode_artifact_name,
        Ref(bucket), Ref(prefix)))
    template.add_resource(layer_arn_parameter("DependencyLayerArnParameter", layer, names.LAYER_SSM_SUFFIX,
                                              "dependency"))
    template.add_resource(layer_arn_parameter("BytecodeLayerArnParameter", bytecode_layer,
                                              names.BYTECODE_LAYER_SSM_SUFFIX, "bytecode"))
    _export(template, names.STATE_TABLE_NAME, Ref(table), "State log table name (CARETAKER_STATE_TABLE)")
    _export(template, names.STATE_TABLE_ARN, GetAtt(table, "Arn"), "State log table ARN")
    _export(template, names.ALERT_TOPIC_ARN, Ref(topic), "SNS topic for alerts and alarms")
    _export(template, names.CHAT_TOPIC_ARN, Ref(chat),
            "SNS topic for notifications in AWS Chatbot's format (subscribe a Slack or Teams channel)",
            condition=CHAT_CONDITION)
    _export(template, names.ALERT_KEY_ARN, GetAtt(key, "Arn"), "KMS key of the alert topic (publishers use it)")
    _export(template, names.STATE_KEY_ARN, GetAtt(state, "Arn"),
            "KMS key of the state table and the dead-letter queues (function roles use it)")
    _export(template, names.DEPENDENCY_LAYER_ARN, Ref(layer), "Lambda layer version with the dependencies")
    _export(template, names.BYTECODE_LAYER_ARN, Ref(bytecode_layer),
            "Lambda layer version with the bytecode of Caretaker's modules")
    return template
