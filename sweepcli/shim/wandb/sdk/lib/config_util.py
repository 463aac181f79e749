"""``wandb.sdk.lib.config_util``: the error Hugging Face's callback catches."""


class ConfigError(Exception):
    pass
