-- One database per service: a node's backup and restore never touches another's data.
CREATE DATABASE vir_hub OWNER vir;
CREATE DATABASE vir_node_drenthe OWNER vir;
CREATE DATABASE vir_node_zuid_limburg OWNER vir;
CREATE DATABASE vir_node_hoeksche_waard OWNER vir;
