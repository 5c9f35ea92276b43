# irlens workflow: BEIR data -> retrieval evaluation -> (later stages) -> figures, tables, report.
# Thin by design: all logic lives in the irlens package; rules call `irlens <subcommand>`.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/cross_encoder.smk"
include: "workflow/rules/gpl.smk"
include: "workflow/rules/ig.smk"
include: "workflow/rules/nig.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/sae.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
