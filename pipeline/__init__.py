"""dialogvae's tools. Each command is a module here (`python -m pipeline.NAME`): train,
evaluate, report, study, latent, human_eval; `tools` holds their console scripts. What
several commands share sits beside them (configs, data, restore); each command's parts are
in its subpackage: training/, evaluation/, studies/."""
