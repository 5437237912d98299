export {
  type AlertInput,
  BACKUP_BLOCKED_ALERT,
  BACKUP_FAILED_ALERT,
  BACKUP_OVERDUE_ALERT,
  BACKUP_STALLED_ALERT,
  BACKUP_SUSPICIOUS_ALERT,
  BACKUP_UNVERIFIED_ALERT,
  DATA_SHRANK_ALERT,
  raiseAndNotify,
  resolveAlerts,
  PRUNE_REFUSED_ALERT,
  RESTORE_FAILED_ALERT,
  RESTORE_PROPOSED_ALERT,
  RESTORE_STALLED_ALERT,
  TEST_RESTORE_FAILED_ALERT,
  UPLOAD_FAILED_ALERT,
} from './alerts.ts';
export { type AlertNotification } from './alert-notification.ts';
export { type AlertWithName, changeWithAlert } from './change-with-alert.ts';
export { type AlertStateChanges, applyAlertStates, type WantedAlertState } from './alert-states.ts';
export {
  type AlertDeliveryDependencies,
  type AlertWebhook,
  deliverPendingAlerts,
  type DeliveryOptions,
  type DeliverySummary,
} from './deliver-alerts.ts';
export { DEFAULT_DELIVERY_RETRY_POLICY, type DeliveryRetryPolicy } from './delivery-plan.ts';
export { type AlertDeliveryTimer, startAlertDeliveryTimer } from './delivery-timer.ts';
export { createWebhookNotifier, noopNotifier, type Notifier } from './notifier.ts';
export { DEAD_MAN_EVENTS, type DeadManEvent, pingUrlFor, queueDeadManPing } from './dead-man-pings.ts';
export {
  type DeadManPingDependencies,
  type DeadManPingTimer,
  sendDeadManPings,
  startDeadManPingTimer,
} from './send-dead-man-pings.ts';
