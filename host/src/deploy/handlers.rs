//! Typed views of the handler exports of `pb:serverless` (jobs, cron,
//! hooks), generated from `wit/`. Building a `*Pre` checks that a
//! component's export has exactly the interface's types, so a handler with
//! a wrong signature is refused at deploy, not at its first run.

pub mod job {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "package pb:host-jobs; world job-exports { export pb:serverless/job-handler@0.1.0; }",
        world: "pb:host-jobs/job-exports",
        exports: { default: async },
    });
}

pub mod cron {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "package pb:host-cron; world cron-exports { export pb:serverless/cron-handler@0.1.0; }",
        world: "pb:host-cron/cron-exports",
        exports: { default: async },
    });
}

pub mod hook {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "package pb:host-hooks; world hook-exports { export pb:serverless/hook-handler@0.1.0; }",
        world: "pb:host-hooks/hook-exports",
        exports: { default: async },
    });
}
