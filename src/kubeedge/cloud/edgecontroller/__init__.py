"""EdgeController: the cloudcore module between the API and the edge nodes.

Downstream it turns changes of edge Nodes, the pods bound to them and the configmaps and
secrets those pods use into messages for CloudHub; upstream it carries out what edges
ask (node and pod status, leases, events, queries), each authorized against the sending
node and made as that node (specs/kubeedge.md §1-2, §6).

- `controller`: the module (`EdgeController`, `EdgeControllerSettings`);
- `downstream`: informer handlers → messages;
- `upstream`: edge requests → API calls and replies;
- `locations`: which node needs which object;
- `access`: what a node may ask for;
- `messages`: the shapes of the messages sent;
- `routes`, `hosts`: ours, the other edges' pod networks and the cluster's headless
  Service names, summarised for each connected edge.
"""

from kubeedge.cloud.edgecontroller.controller import EdgeController, EdgeControllerSettings

__all__ = ["EdgeController", "EdgeControllerSettings"]
