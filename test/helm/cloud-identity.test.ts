// The chart's cloud identity values for ecr:, gcp: and acr: references, rendered by the real
// helm: ServiceAccount annotations for IRSA, GKE and AKS workload identity, the AKS pod label.
import t from 'tap';
import { one, render, runHelm, chart } from './helm.js';
import { needTool } from '../helpers/tools.js';

if (needTool(t, 'helm') !== undefined) {
  t.test('by default: no cloud annotation, no Azure label', async (t) => {
    const docs = render();
    t.equal(one(docs, 'ServiceAccount').metadata.annotations, undefined);
    t.equal(one(docs, 'Deployment').spec.template.metadata.labels['azure.workload.identity/use'], undefined);
  });

  t.test('each cloud identity annotates the ServiceAccount; Azure also labels the pods', async (t) => {
    const docs = render({
      serviceAccount: { annotations: { team: 'platform' } },
      cloudIdentity: {
        aws: { roleArn: 'arn:aws:iam::123456789012:role/credbroker-pull' },
        gcp: { serviceAccount: 'credbroker@proj.iam.gserviceaccount.com' },
        azure: { clientId: '2a4f0c1e-3b5d-4e6f-8a7b-9c0d1e2f3a4b', tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47' }
      }
    });
    t.same(one(docs, 'ServiceAccount').metadata.annotations, {
      team: 'platform',
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/credbroker-pull',
      'iam.gke.io/gcp-service-account': 'credbroker@proj.iam.gserviceaccount.com',
      'azure.workload.identity/client-id': '2a4f0c1e-3b5d-4e6f-8a7b-9c0d1e2f3a4b',
      'azure.workload.identity/tenant-id': '72f988bf-86f1-41af-91ab-2d7cd011db47'
    });
    t.equal(one(docs, 'Deployment').spec.template.metadata.labels['azure.workload.identity/use'], 'true');
  });

  t.test('serviceAccount.annotations win over the cloud values', async (t) => {
    const docs = render({
      serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::111111111111:role/explicit' } },
      cloudIdentity: { aws: { roleArn: 'arn:aws:iam::123456789012:role/credbroker-pull' } }
    });
    t.equal(one(docs, 'ServiceAccount').metadata.annotations['eks.amazonaws.com/role-arn'], 'arn:aws:iam::111111111111:role/explicit');
  });

  t.test('a role that is no IAM role ARN is refused by the schema', async (t) => {
    const r = runHelm(['template', 'cb', chart], { cloudIdentity: { aws: { roleArn: 'credbroker-pull' } } });
    t.not(r.status, 0);
    t.match(r.stderr, /roleArn/);
  });
}
