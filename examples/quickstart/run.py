"""The quickstart end to end: create the sweep, run two agents in parallel, print the result.

    python examples/quickstart/run.py

The same by hand, from this folder:

    ID=$(sweepcli sweep sweep.yaml)
    sweepcli agent $ID &
    sweepcli agent $ID &
    wait
    sweepcli sweep --print $ID
    sweepcli report $ID
"""

import os
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
os.chdir(here)
sweepcli = [sys.executable, "-m", "sweepcli"]
extra = []
if os.environ.get("QUICKSTART_RUN_CAP"):  # the tests run a shorter sweep
    import yaml

    config = yaml.safe_load(Path("sweep.yaml").read_text())
    config["run_cap"] = int(os.environ["QUICKSTART_RUN_CAP"])
    Path("sweep.ci.yaml").write_text(yaml.safe_dump(config))
    config_file = "sweep.ci.yaml"
else:
    config_file = "sweep.yaml"

sweep_id = subprocess.run([*sweepcli, "sweep", config_file], check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()
print(f"sweep {sweep_id}: starting two agents", flush=True)
agents = [subprocess.Popen([*sweepcli, "agent", sweep_id], stdout=subprocess.DEVNULL)
          for _ in range(2)]
codes = [a.wait() for a in agents]
subprocess.run([*sweepcli, "sweep", "--print", sweep_id], check=True)
# the report: learning curves, what matters, every run (open the file in a browser)
subprocess.run([*sweepcli, "report", sweep_id], check=True)
sys.exit(max(codes))
