// Russian (default) and English. The choice is remembered in this browser.

const RU = {
  "app.title": "Dialogi",
  "login.title": "Вход", "login.login": "Логин", "login.password": "Пароль", "login.submit": "Войти",
  "login.failed": "Неверный логин или пароль",
  "nav.inbox": "Диалоги", "nav.work": "Моя работа", "nav.report": "Причины закрытия", "nav.monitor": "Монитор",
  "nav.signout": "Выйти", "lang": "English",
  "live.online": "на связи", "live.offline": "нет связи — переподключение…",
  "section.new": "Новые", "section.in_work": "В работе", "section.all": "Все",
  "search": "Поиск по тексту, имени клиента, номеру", "filter.account": "Все аккаунты", "filter.user": "Все ответственные",
  "filter.closed": "Закрытые", "filter.priority": "По приоритету каналов",
  "list.empty": "Здесь пусто. Новые обращения появятся сами.", "list.more": "Ещё", "list.loading": "Загрузка…",
  "dialog.none": "Выберите диалог слева", "dialog.with_client": "Диалогов с клиентом: {n}",
  "dialog.earlier": "Прежние диалоги", "dialog.interest": "Интерес: {title}",
  "status.new": "новый", "status.accepted": "в работе", "status.returned": "возвращён", "status.closed": "закрыт",
  "delivery.pending": "отправляется", "delivery.sent": "отправлено", "delivery.delivered": "доставлено",
  "delivery.read": "прочитано", "delivery.failed": "не доставлено",
  "composer.placeholder": "Сообщение… (Enter — отправить, Shift+Enter — новая строка)",
  "composer.send": "Отправить", "composer.file": "+ файл", "composer.attach": "Прикрепить файл", "composer.readonly": "Вы можете читать этот диалог, но не писать в него",
  "action.accept": "Принять", "action.close": "Закрыть", "action.redirect": "Перенаправить", "action.rename": "Переименовать",
  "action.lead": "Принять обращение", "action.link": "Связать с интересом", "action.task": "Задача",
  "action.site": "Открыть на сайте канала", "action.fetch": "Получить сообщения", "action.search": "Поиск в диалогах клиента",
  "action.gallery": "Вложения",
  "close.reason": "Причина", "close.comment": "Комментарий", "close.none": "— без причины —",
  "redirect.to": "Кому", "redirect.user": "Пользователю", "redirect.role": "Роли",
  "rename.title": "Название (пусто — автоматическое)",
  "lead.title": "Название интереса", "lead.description": "Описание", "lead.amount": "Сумма", "lead.currency": "Валюта",
  "link.interest": "Интерес клиента", "link.none": "У клиента нет активных интересов",
  "task.kind": "Вид", "task.personal": "Личная задача", "task.assignment": "Поручение", "task.title": "Что сделать",
  "task.due": "Срок", "task.assignees": "Исполнители",
  "search.query": "Искать", "search.empty": "Ничего не найдено",
  "gallery.all": "Все", "gallery.image": "Изображения", "gallery.file": "Файлы", "gallery.link": "Ссылки",
  "gallery.empty": "Вложений нет",
  "system.accepted": "{who} принял(а) диалог", "system.closed": "{who} закрыл(а) диалог",
  "system.redirected": "{who} перенаправил(а) диалог", "system.renamed": "Диалог переименован: {title}",
  "system.interest_linked": "Диалог связан с интересом «{title}»", "system.lead_accepted": "{who} принял(а) обращение: «{title}»",
  "system.assigned": "Назначен ответственный", "system.marked_lead": "Отмечен как обращение",
  "system.rule": "Правило «{name}»", "system.auto": "автоматически", "system.someone": "Система",
  "fetch.done": "Получено новых сообщений: {n}", "fetch.webhook": "Сообщения этого аккаунта приходят сами (webhook)",
  "work.tasks": "Задачи", "work.dialogs": "Мои диалоги", "work.empty": "Задач нет", "work.done": "Готово",
  "report.from": "С", "report.to": "По", "report.leads": "Только обращения", "report.csv": "Скачать CSV",
  "report.total": "Всего закрыто: {n}", "report.reason": "Причина", "report.count": "Количество", "report.share": "Доля",
  "report.by_account": "По аккаунтам", "report.by_user": "По сотрудникам", "report.by_period": "По месяцам",
  "notify.enable": "Уведомлять о новых диалогах", "notify.new": "Новый диалог",
  "error.offline": "Нет связи с сервером", "cancel": "Отмена", "save": "Сохранить", "send": "Отправить", "ok": "Готово",
};

const EN = {
  "app.title": "Dialogi",
  "login.title": "Sign in", "login.login": "Login", "login.password": "Password", "login.submit": "Sign in",
  "login.failed": "Wrong login or password",
  "nav.inbox": "Dialogs", "nav.work": "My work", "nav.report": "Close reasons", "nav.monitor": "Monitor",
  "nav.signout": "Sign out", "lang": "Русский",
  "live.online": "live", "live.offline": "offline — reconnecting…",
  "section.new": "New", "section.in_work": "In work", "section.all": "All",
  "search": "Search text, client name, number", "filter.account": "All accounts", "filter.user": "Anyone responsible",
  "filter.closed": "Closed", "filter.priority": "By channel priority",
  "list.empty": "Nothing here. New conversations appear by themselves.", "list.more": "More", "list.loading": "Loading…",
  "dialog.none": "Choose a dialog on the left", "dialog.with_client": "Dialogs with this client: {n}",
  "dialog.earlier": "Earlier dialogs", "dialog.interest": "Interest: {title}",
  "status.new": "new", "status.accepted": "in work", "status.returned": "returned", "status.closed": "closed",
  "delivery.pending": "sending", "delivery.sent": "sent", "delivery.delivered": "delivered",
  "delivery.read": "read", "delivery.failed": "not delivered",
  "composer.placeholder": "Message… (Enter sends, Shift+Enter adds a line)",
  "composer.send": "Send", "composer.file": "+ file", "composer.attach": "Attach a file", "composer.readonly": "You may read this dialog but not write in it",
  "action.accept": "Accept", "action.close": "Close", "action.redirect": "Redirect", "action.rename": "Rename",
  "action.lead": "Accept lead", "action.link": "Link to interest", "action.task": "Task",
  "action.site": "Open on the channel's site", "action.fetch": "Fetch messages", "action.search": "Search this client's dialogs",
  "action.gallery": "Attachments",
  "close.reason": "Reason", "close.comment": "Comment", "close.none": "— no reason —",
  "redirect.to": "To", "redirect.user": "A user", "redirect.role": "A role",
  "rename.title": "Title (empty: automatic)",
  "lead.title": "Interest title", "lead.description": "Description", "lead.amount": "Amount", "lead.currency": "Currency",
  "link.interest": "The client's interest", "link.none": "The client has no active interests",
  "task.kind": "Kind", "task.personal": "Personal task", "task.assignment": "Assignment", "task.title": "What to do",
  "task.due": "Due", "task.assignees": "Assignees",
  "search.query": "Search", "search.empty": "Nothing found",
  "gallery.all": "All", "gallery.image": "Images", "gallery.file": "Files", "gallery.link": "Links",
  "gallery.empty": "No attachments",
  "system.accepted": "{who} accepted the dialog", "system.closed": "{who} closed the dialog",
  "system.redirected": "{who} redirected the dialog", "system.renamed": "Renamed: {title}",
  "system.interest_linked": "Linked to the interest “{title}”", "system.lead_accepted": "{who} accepted the lead: “{title}”",
  "system.assigned": "A responsible was assigned", "system.marked_lead": "Marked as a lead",
  "system.rule": "Rule “{name}”", "system.auto": "automatically", "system.someone": "System",
  "fetch.done": "New messages fetched: {n}", "fetch.webhook": "This account's messages arrive by themselves (webhook)",
  "work.tasks": "Tasks", "work.dialogs": "My dialogs", "work.empty": "No tasks", "work.done": "Done",
  "report.from": "From", "report.to": "To", "report.leads": "Leads only", "report.csv": "Download CSV",
  "report.total": "Closed in all: {n}", "report.reason": "Reason", "report.count": "Count", "report.share": "Share",
  "report.by_account": "By account", "report.by_user": "By user", "report.by_period": "By month",
  "notify.enable": "Notify me of new dialogs", "notify.new": "New dialog",
  "error.offline": "The server cannot be reached", "cancel": "Cancel", "save": "Save", "send": "Send", "ok": "Done",
};

/** Russian unless this browser chose English with the switch. */
export const lang = localStorage.getItem("dialogi.lang") === "en" ? "en" : "ru";
document.documentElement.lang = lang;

/** The text for `key` in the chosen language, with `{name}` placeholders filled. */
export function t(key, vars = {}) {
  const text = (lang === "en" ? EN : RU)[key] || RU[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? ""));
}

export function switchLanguage() {
  localStorage.setItem("dialogi.lang", lang === "en" ? "ru" : "en");
  location.reload();
}
