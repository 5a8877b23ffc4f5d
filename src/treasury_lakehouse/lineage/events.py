"""Plain lineage data -> the ``openlineage-python`` client's run event (imported only when
lineage is configured)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)

from treasury_lakehouse.lineage.model import LineageDataset

#: the parent job of every step (see :mod:`treasury_lakehouse.lineage.emitter`)
PARENT_JOB = "pipeline"


def run_event(
    event_type: str,
    *,
    job: str,
    namespace: str,
    run_id: str,
    parent_run_id: str,
    inputs: list[LineageDataset],
    outputs: list[LineageDataset],
    error: tuple[str, str | None] | None,
    producer: str,
) -> RunEvent:
    """One run event of the step ``job``, a child of the pipeline run ``parent_run_id``."""
    run_facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_run_id),
            job=parent_run.Job(namespace=namespace, name=PARENT_JOB),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=parent_run_id),
                job=parent_run.RootJob(namespace=namespace, name=PARENT_JOB),
            ),
            producer=producer,
        )
    }
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error[0], programmingLanguage="python", stackTrace=error[1], producer=producer
        )
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH",
            integration="TREASURY_LAKEHOUSE",
            jobType="TASK",
            producer=producer,
        )
    }
    return RunEvent(
        eventType=RunState[event_type],
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=run_id, facets=run_facets),
        job=Job(namespace=namespace, name=job, facets=job_facets),
        inputs=[_input(d, producer) for d in inputs],
        outputs=[_output(d, producer) for d in outputs],
        producer=producer,
    )


def _facets(dataset: LineageDataset, producer: str) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if dataset.fields:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=name, type=sql_type)
                for name, sql_type in dataset.fields
            ],
            producer=producer,
        )
    if dataset.column_lineage:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(
                            namespace=s.namespace, name=s.name, field=s.column
                        )
                        for s in sources
                    ]
                )
                for column, sources in dataset.column_lineage
            },
            producer=producer,
        )
    return facets


def _input(dataset: LineageDataset, producer: str) -> InputDataset:
    input_facets: dict[str, Any] = {}
    if dataset.assertions:
        input_facets["dataQualityAssertions"] = (
            data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                assertions=[
                    data_quality_assertions_dataset.Assertion(
                        assertion=a.assertion,
                        success=a.success,
                        severity=a.severity,
                        name=a.assertion,
                        description=a.description,
                        actual=a.actual,
                    )
                    for a in dataset.assertions
                ],
                producer=producer,
            )
        )
    return InputDataset(
        namespace=dataset.namespace,
        name=dataset.name,
        facets=_facets(dataset, producer),
        inputFacets=input_facets,
    )


def _output(dataset: LineageDataset, producer: str) -> OutputDataset:
    output_facets: dict[str, Any] = {}
    if dataset.rows is not None:
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=dataset.rows, producer=producer
            )
        )
    return OutputDataset(
        namespace=dataset.namespace,
        name=dataset.name,
        facets=_facets(dataset, producer),
        outputFacets=output_facets,
    )
