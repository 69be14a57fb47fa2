"""An example stack for a secret owner: two secrets rotated by Caretaker's rotation functions.

Not part of the build: `python -c "from templates.rotation_example import example_yaml; print(example_yaml())"`
prints it. Deploy it after `caretaker-rotation`. It shows what a secret owner declares:

- a password secret (`caretaker/...`, JSON with a `password` field) and its
  `AWS::SecretsManager::RotationSchedule` pointing at `caretaker-rotate-password`;
- an IAM user that names its secret in the tag `caretaker:rotation-secret`, the secret holding only
  `{"UserName": ...}` (the first rotation creates the first key) and its schedule pointing at
  `caretaker-rotate-iam-access-key`.

The rotation functions have fixed names, so the schedule builds their ARNs with `Fn::Sub`; their
invoke permission for `secretsmanager.amazonaws.com` lives in the `caretaker-rotation` stack.
"""

from __future__ import annotations

from troposphere import Output, Parameter, Ref, Sub, Tags, Template
from troposphere.iam import User
from troposphere.secretsmanager import GenerateSecretString, RotationRules, RotationSchedule, Secret

from automations.core import registry

SCHEDULE_PARAMETER = "RotationSchedule"
#: The IAM user's tag naming the one secret that may rotate its keys (see automations/rotation/iam_access_key.py).
BINDING_TAG = "caretaker:rotation-secret"


def function_arn(function_name: str) -> Sub:
    return Sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + function_name)


def example_template() -> Template:
    template = Template(Description="Example: secrets rotated by Caretaker's rotation functions")
    schedule = template.add_parameter(Parameter(
        SCHEDULE_PARAMETER, Type="String", Default="rate(30 days)", AllowedPattern=r"^(rate|cron)\(.+\)$",
        Description="When Secrets Manager rotates the example secrets.",
    ))

    password = template.add_resource(Secret(
        "AppPassword",
        Name=Sub("caretaker/examples/${AWS::StackName}/app-password"),
        Description="Database password of the example application, which applies it itself at start-up",
        GenerateSecretString=GenerateSecretString(
            SecretStringTemplate='{"username": "app"}', GenerateStringKey="password", PasswordLength=32,
            ExcludeCharacters="\"'`\\/@"),
    ))
    template.add_resource(RotationSchedule(
        "AppPasswordRotation",
        SecretId=Ref(password),
        RotationLambdaARN=function_arn(registry.get("rotate-password").function_name),
        RotationRules=RotationRules(ScheduleExpression=Ref(schedule)),
    ))

    key_secret_name = "caretaker/examples/${AWS::StackName}/deployer-key"
    template.add_resource(User(
        "Deployer",
        Tags=Tags(**{BINDING_TAG: Sub(key_secret_name)}),  # lets exactly this secret rotate the user's keys
    ))
    key_secret = template.add_resource(Secret(
        "DeployerKey",
        Name=Sub(key_secret_name),
        Description="Access key of the example deployer user; the first rotation creates it",
        SecretString=Sub('{"UserName": "${Deployer}"}'),
    ))
    template.add_resource(RotationSchedule(
        "DeployerKeyRotation",
        SecretId=Ref(key_secret),
        RotationLambdaARN=function_arn(registry.get("rotate-iam-access-key").function_name),
        RotationRules=RotationRules(ScheduleExpression=Ref(schedule)),
        RotateImmediatelyOnUpdate=True,
    ))
    template.add_output(Output("AppPasswordSecret", Value=Ref(password)))
    template.add_output(Output("DeployerKeySecret", Value=Ref(key_secret)))
    return template


def example_yaml() -> str:
    return example_template().to_yaml(long_form=True)
