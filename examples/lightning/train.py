"""A tiny Lightning model trained under a sweep (needs `pip install 'sweepcli[lightning]'`)."""

import lightning.pytorch as pl
import torch
from sweepcli_callback import SweepcliCallback
from torch import nn

import sweepcli

run = sweepcli.init(config={"lr": 0.01, "hidden": 16})
torch.manual_seed(0)
x = torch.linspace(-2, 2, 256).unsqueeze(1)
y = torch.sin(2 * x)
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, run.config.hidden), nn.Tanh(),
                                 nn.Linear(run.config.hidden, 1))

    def training_step(self, batch, _):
        return nn.functional.mse_loss(self.net(batch[0]), batch[1])

    def validation_step(self, batch, _):
        self.log("val_loss", nn.functional.mse_loss(self.net(batch[0]), batch[1]))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=run.config.lr)


pl.Trainer(max_epochs=9, callbacks=[SweepcliCallback()], enable_progress_bar=False,
           logger=False, enable_checkpointing=False).fit(Model(), data, data)
