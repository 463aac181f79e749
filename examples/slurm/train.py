"""A long training run that survives preemption and the walltime.

It saves a checkpoint in its own run folder after every epoch. When the agent stops it
(the job's time is nearly up, or the job is preempted), the run is marked `preempted`;
the next agent to take it resumes the *same* run, in the same folder, with
`run.resumed` true: the checkpoint is there, and the metric history continues.
"""

import json
import os
import time

import sweepcli

EPOCHS = int(os.environ.get("EPOCHS", "30"))

with sweepcli.init(config={"lr": 0.1, "epoch_seconds": 1.0}) as run:
    folder = run.dir or os.getcwd()  # by hand: the current folder
    checkpoint = os.path.join(folder, "checkpoint.json")
    state = {"epoch": 0, "loss": 10.0}
    if run.resumed and os.path.exists(checkpoint):
        with open(checkpoint) as f:
            state = json.load(f)
        print(f"resumed at epoch {state['epoch']} (attempt {run.attempt})", flush=True)
    for epoch in range(state["epoch"], EPOCHS):
        time.sleep(run.config.epoch_seconds)  # one epoch of training
        state = {"epoch": epoch + 1, "loss": state["loss"] * (1 - run.config.lr)}
        # the checkpoint first, then the metric line: a stop between the two loses one
        # line of history, never repeats one
        with open(checkpoint + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(checkpoint + ".tmp", checkpoint)
        run.log({"epoch": epoch, "loss": state["loss"]})
        if run.should_stop:  # the agent asked: the checkpoint is saved, stop here
            break
