"""Data curation on datatrove: our reader, cleaner, language id, quality filters, PII removal, dedup and token
shards are datatrove `PipelineStep`s (`BaseFilter`, `BaseFormatter`, readers); pipelines are plain lists of steps
run by datatrove's executors (`hfpretrain.data.pipeline`)."""
