# The subscription comes from the environment (ARM_SUBSCRIPTION_ID), as do the
# credentials (az login, or ARM_* service principal / OIDC variables);
# azurerm 4.x refuses to start without a subscription id.
provider "azurerm" {
  features {}
}
