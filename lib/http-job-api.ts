import { RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTE_LIST } from '../core/contract/routes.js';

/** The routes of the job API (v1, core/contract/routes.ts); all go to the one api function. */
export const JOB_API_ROUTES: readonly { readonly method: apigwv2.HttpMethod; readonly path: string }[] = ROUTE_LIST.map((route) => ({
  method: apigwv2.HttpMethod[route.method],
  path: route.path,
}));

/** How callers prove who they are; the authenticated principal becomes the job owner. */
export type JobApiAuth =
  | { readonly type: 'iam' }
  | {
      readonly type: 'jwt';
      /** Issuer URL of the OIDC provider. */
      readonly issuer: string;
      /** Audiences a token must carry one of. */
      readonly audience: readonly string[];
      /** Scope every route requires. */
      readonly requiredScope?: string;
    };

export interface HttpJobApiProps {
  /** The api function that serves every route. */
  readonly handler: lambda.IFunction;
  /**
   * Authorization on every route.
   * @default { type: 'iam' } (SigV4)
   */
  readonly auth?: JobApiAuth;
  /** Steady-state requests per second of the default stage. */
  readonly throttlingRateLimit: number;
  /** Burst capacity of the default stage. */
  readonly throttlingBurstLimit: number;
  /** Retention of the access log group. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * The job API: an HTTP API (API Gateway v2, cheaper and faster than REST APIs) whose
 * every route requires authorization, with throttling and JSON access logs on the
 * default stage.
 */
export class HttpJobApi extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly accessLogGroup: logs.LogGroup;
  /** Base URL of the API, ending in `/`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: HttpJobApiProps) {
    super(scope, id);
    const auth = props.auth ?? { type: 'iam' };

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogGroup', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'gpujobs job API (v1)',
      createDefaultStage: false,
    });
    const stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttlingRateLimit, burstLimit: props.throttlingBurstLimit },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            principal: auth.type === 'iam' ? '$context.identity.userArn' : '$context.authorizer.claims.sub',
          }),
        ),
      },
    });
    this.url = stage.url;

    const authorizer =
      auth.type === 'iam'
        ? new authorizers.HttpIamAuthorizer()
        : new authorizers.HttpJwtAuthorizer('JwtAuthorizer', auth.issuer, { jwtAudience: [...auth.audience] });
    const authorizationScopes = auth.type === 'jwt' && auth.requiredScope !== undefined ? [auth.requiredScope] : undefined;
    const integration = new integrations.HttpLambdaIntegration('ApiIntegration', props.handler);

    for (const route of JOB_API_ROUTES) {
      this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        authorizer,
        ...(authorizationScopes && { authorizationScopes }),
      });
    }
  }
}
