"""The core stack: the state table, the alert topic and the dependency layer every function uses."""

from __future__ import annotations

from troposphere import Export, GetAtt, Join, Output, Ref, Sub, Template, dynamodb, kms, sns, ssm
from troposphere.awslambda import Content, LayerVersion

from automations.core import state_schema
from templates import names
from templates.parameters import add_artifact_parameters

LAYER_NAME = "caretaker-dependencies"


def _export(template: Template, name: str, value: object, description: str) -> Output:
    return template.add_output(Output(
        name, Value=value, Description=description,
        Export=Export(Sub("${AWS::StackName}-" + name)),
    ))


def state_table() -> dynamodb.Table:
    """On-demand, point-in-time recovery, encrypted, TTL on `state_schema.TTL_ATTRIBUTE`."""
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
        SSESpecification=dynamodb.SSESpecification(SSEEnabled=True),
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
                {"Sid": "AccountAdministersTheKey", "Effect": "Allow",
                 "Principal": {"AWS": Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "AlarmsPublishToTheAlertTopic", "Effect": "Allow",
                 "Principal": {"Service": "cloudwatch.amazonaws.com"},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}},
            ],
        },
    )


def alert_topic(key: kms.Key) -> sns.Topic:
    return sns.Topic("AlertTopic", DisplayName="Caretaker alerts", KmsMasterKeyId=Ref(key))


def dependency_layer(layer_artifact_name: str, bucket: Ref, prefix: Ref) -> LayerVersion:
    return LayerVersion(
        "DependencyLayer",
        LayerName=LAYER_NAME,
        Description=f"Caretaker runtime dependencies ({layer_artifact_name})",
        Content=Content(S3Bucket=bucket, S3Key=Join("", [prefix, layer_artifact_name])),
        CompatibleRuntimes=[names.RUNTIME],
        CompatibleArchitectures=[names.ARCHITECTURE],
    )


def core_template(layer_artifact_name: str) -> Template:
    """The `caretaker-core` template; `layer_artifact_name` is the layer zip's file name."""
    template = Template(Description="Caretaker core: state table, alert topic, dependency layer")
    bucket, prefix = add_artifact_parameters(template)
    table = template.add_resource(state_table())
    key = template.add_resource(alert_key())
    topic = template.add_resource(alert_topic(key))
    layer = template.add_resource(dependency_layer(layer_artifact_name, Ref(bucket), Ref(prefix)))
    template.add_resource(ssm.Parameter(
        "DependencyLayerArnParameter",
        Name=Sub("/${AWS::StackName}" + names.LAYER_SSM_SUFFIX),
        Type="String",
        Value=Ref(layer),
        Description="Current Caretaker dependency layer version; function stacks read it at deploy time",
    ))
    _export(template, names.STATE_TABLE_NAME, Ref(table), "State log table name (CARETAKER_STATE_TABLE)")
    _export(template, names.STATE_TABLE_ARN, GetAtt(table, "Arn"), "State log table ARN")
    _export(template, names.ALERT_TOPIC_ARN, Ref(topic), "SNS topic for alerts and alarms")
    _export(template, names.ALERT_KEY_ARN, GetAtt(key, "Arn"), "KMS key of the alert topic (publishers use it)")
    _export(template, names.DEPENDENCY_LAYER_ARN, Ref(layer), "Lambda layer version with the dependencies")
    return template
