//! The simulated S3 service and the ObjectStore client interface with its retry layer
