"""dialogvae's tools. Each command is a module here (`python -m pipeline.NAME`): train,
evaluate, report, study, latent, human_eval. What several commands share sits beside them
(cli, configs, data, restore); each command's parts are in its subpackage: training/,
evaluation/, studies/."""
from preprocessing.cli import quiet_unless_verbose

quiet_unless_verbose()
