//! The retrylab command line: glue between scenario files, the harness and human or JSON output
