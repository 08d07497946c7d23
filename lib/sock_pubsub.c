/* placeholder */ typedef int uipc__sock_pubsub_placeholder;
