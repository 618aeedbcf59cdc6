prefix     = "example"
project_id = "example-community-project"
zone       = "us-central1-b"
region     = "us-central1"

core_node_machine_type = "n2-highmem-2"

notebook_nodes = {
  "n2-highmem-4" : {
    min : 0,
    max : 20,
    machine_type : "n2-highmem-4",
  },
}
