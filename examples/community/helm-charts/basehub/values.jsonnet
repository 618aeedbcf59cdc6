// Values derived from a hub's identity, rendered by the deployer (and by
// r2r) with the ext-strs VARS_2I2C_{CLUSTER_NAME,HUB_NAME,HUB_DOMAIN,
// PROVIDER,ACCOUNT_ID}. daskhub/values.jsonnet is a symlink to this file;
// it nests the result under `basehub:` when reached through daskhub.
local cluster = std.extVar('VARS_2I2C_CLUSTER_NAME');
local hub = std.extVar('VARS_2I2C_HUB_NAME');
local domain = std.extVar('VARS_2I2C_HUB_DOMAIN');
local provider = std.extVar('VARS_2I2C_PROVIDER');
local account = std.extVar('VARS_2I2C_ACCOUNT_ID');

local isDaskHub = std.splitLimitR(std.thisFile, '/', 3)[2] == 'daskhub';

local values = {
  jupyterhub: {
    ingress: {
      hosts: [domain],
      tls: [{ hosts: [domain], secretName: 'https-auto-tls' }],
    },
    hub: {
      config: {
        OAuthenticator: {
          oauth_callback_url: 'https://%s/hub/oauth_callback' % domain,
        },
      },
    },
  },
  userServiceAccount: {
    enabled: true,
    annotations: if provider == 'gcp' then {
      'iam.gke.io/gcp-service-account': '%s-%s@%s.iam.gserviceaccount.com' % [cluster, hub, account],
    } else {},
  },
  'jupyterhub-home-nfs': {
    quotaEnforcer: {
      config: {
        QuotaManager: {
          paths: ['/export/%s' % hub],
          hard_quota: if std.member(hub, 'staging') then 1 else 10,
        },
      },
    },
  },
};

if isDaskHub then { basehub: values } else values
